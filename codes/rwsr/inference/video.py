"""Video in, video out with PyAV (FFmpeg's codecs, bundled in its wheels; nothing downloaded).

Frames are decoded, super-resolved and encoded one at a time while the packets of the first
audio stream are copied as they are, so memory does not grow with the clip's length. Every frame
keeps its timestamp (same frame count and frame rate). The result is written under a hidden
temporary name in the output folder and renamed when complete: an interrupted run leaves no
file that looks finished.
"""
import os
import time

from ..utils.errors import RwsrError

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
VIDEO_EXTENSIONS = tuple(CONTAINERS)
# video encoder per container: H.264 where it is at home, VP9 for WebM, MPEG-4 part 2 for AVI
_ENCODERS = {".webm": ("libvpx-vp9", {"crf": "20", "b": "0"}), ".avi": ("mpeg4", {"qscale": "2"})}
_H264 = ("libx264", {"crf": "16", "preset": "medium"})


def is_video_file(name):
    return not os.path.basename(name).startswith(".") and name.lower().endswith(VIDEO_EXTENSIONS)


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _open_input(path):
    import av

    try:
        source = av.open(path)
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise RwsrError(f"{path}: cannot read video ({_first_line(err)}); replace or remove it") from None
    if not source.streams.video:
        source.close()
        raise RwsrError(f"{path}: no video stream; replace or remove it")
    return source


def _add_video_stream(sink, ext, in_video, width, height):
    codec, options = _ENCODERS.get(ext, _H264)
    stream = sink.add_stream(codec, rate=in_video.average_rate or in_video.guessed_rate or 25)
    stream.width, stream.height = width, height
    # 4:2:0 needs even sizes; an odd size (x3, --outscale) keeps full chroma instead
    even = width % 2 == 0 and height % 2 == 0
    stream.pix_fmt = "yuv420p" if even or codec == "mpeg4" else "yuv444p"
    stream.options = dict(options)
    return stream


class _Writer:
    """The output container under a temporary name, its streams created before anything is muxed."""

    def __init__(self, source_path, output_path, in_video, in_audio, size):
        import av

        self.source_path, self.final_path = source_path, output_path
        folder, name = os.path.split(os.path.abspath(output_path))
        self.ext = os.path.splitext(name)[1].lower()
        self.tmp_path = os.path.join(folder, f".tmp_{os.getpid()}_{name}.partial")
        self.sink = av.open(self.tmp_path, "w", format=CONTAINERS[self.ext])
        self.video = _add_video_stream(self.sink, self.ext, in_video, size[1], size[0])
        self.audio = None
        if in_audio is not None:
            try:
                self.audio = self.sink.add_stream_from_template(in_audio)
            except ValueError as err:  # a codec the output container cannot hold
                self.abandon()
                raise RwsrError(f"{output_path}: cannot copy the audio stream ({err})") from None
        self.frames = 0

    def write_frame(self, rgb, source_frame):
        import av

        if (rgb.shape[1], rgb.shape[0]) != (self.video.width, self.video.height):
            raise RwsrError(f"{self.source_path}: frame {self.frames} has another size than the first; "
                            "split the video where its size changes")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if source_frame.pts is None or source_frame.time_base is None:
            frame.pts = self.frames  # the encoder's time base is 1 / frame rate
        else:  # PyAV rebases the timestamp to the encoder's time base
            frame.pts, frame.time_base = source_frame.pts, source_frame.time_base
        self.sink.mux(self.video.encode(frame))
        self.frames += 1

    def copy_packet(self, packet):
        if packet.dts is None:  # demuxers end each stream with an empty packet
            return
        packet.stream = self.audio
        self.sink.mux(packet)

    def finish(self):
        self.sink.mux(self.video.encode(None))
        self.sink.close()
        os.replace(self.tmp_path, self.final_path)

    def abandon(self):
        try:
            self.sink.close()
        except Exception:  # the container may be half-initialised; the file is removed anyway
            pass
        if os.path.exists(self.tmp_path):
            os.remove(self.tmp_path)


def _frames(source, in_video, in_audio, writer):
    """Decoded video frames in order; audio packets are copied to the writer on the way."""
    streams = [in_video] + ([in_audio] if in_audio is not None else [])
    for packet in source.demux(streams):
        if packet.stream is in_audio:
            writer.copy_packet(packet)
            continue
        yield from packet.decode()


def super_resolve_video(path, output_path, upscale_frame, target_size, on_frame=None):
    """Super-resolve every frame of the video at `path` into `output_path` (same container).

    upscale_frame: HxWx3 uint8 RGB -> SR HxWx3 uint8 RGB (e.g. ImageUpscaler.run);
    target_size(height, width) -> the SR frame's (height, width).
    on_frame(count) is called after each frame. Returns {"frames", "seconds", "fps"}.
    A video that cannot be decoded is a one-line RwsrError; nothing is left at output_path.
    """
    import av

    start = time.perf_counter()
    source = _open_input(path)
    writer = None
    try:
        in_video = source.streams.video[0]
        in_audio = source.streams.audio[0] if source.streams.audio else None
        in_video.thread_type = "AUTO"
        size = target_size(in_video.codec_context.height, in_video.codec_context.width)
        writer = _Writer(path, output_path, in_video, in_audio, size)
        for frame in _frames(source, in_video, in_audio, writer):
            writer.write_frame(upscale_frame(frame.to_ndarray(format="rgb24")), frame)
            if on_frame is not None:
                on_frame(writer.frames)
        if writer.frames == 0:
            raise RwsrError(f"{path}: no decodable video frame; replace or remove it")
        fps = float(in_video.average_rate) if in_video.average_rate else None
        writer.finish()
    except av.FFmpegError as err:
        if writer is not None:
            writer.abandon()
        raise RwsrError(f"{path}: cannot process video ({_first_line(err)}); replace or remove it") from None
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    finally:
        source.close()
    return {"frames": writer.frames, "seconds": time.perf_counter() - start, "fps": fps}
