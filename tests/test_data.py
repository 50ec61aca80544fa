"""Datasets, sampler and loaders: alignment, determinism, resume, LMDB parity and every error."""
import os

import cv2
import numpy as np
import pytest
import torch
from skimage import color as skcolor
from skimage import data as skdata

from rwsr.data import build_dataloader, build_dataset, build_noise_pool
from rwsr.data.sampler import EpochSampler
from rwsr.prep.lmdb_writer import LmdbImageWriter
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import encode_image, read_image, to_float32
from rwsr.utils.imresize import imresize, imresize_uint8

SCALE = 4
SEED = 7


def _crop(name, top, left, height, width):
    return np.ascontiguousarray(getattr(skdata, name)()[top:top + height, left:left + width])


def _write_png(path, img):
    """Write an RGB(A)/gray uint8/uint16 array as PNG with OpenCV (BGR order on disk)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if img.ndim == 3:
        img = img[:, :, [2, 1, 0, 3][: img.shape[2]]]
    assert cv2.imwrite(path, img)


def _lr_of(hr):
    """uint8 or uint16 LR of the mod-cropped HR, MATLAB bicubic, as preprocessing writes it."""
    hr = hr[: hr.shape[0] // SCALE * SCALE, : hr.shape[1] // SCALE * SCALE]
    if hr.dtype == np.uint8:
        return imresize_uint8(hr, 1 / SCALE)
    return np.clip(np.rint(imresize(hr.astype(np.float64), 1 / SCALE)), 0, 65535).astype(np.uint16)


def _hr_images():
    """Odd sizes (mod-crop needed), gray, RGBA and 16-bit among them."""
    chelsea16 = _crop("chelsea", 20, 60, 86, 101).astype(np.uint16) * 257 + 40
    rocket = _crop("rocket", 100, 200, 92, 88)
    alpha = np.full(rocket.shape[:2] + (1,), 200, np.uint8)
    return {
        "astronaut": _crop("astronaut", 10, 150, 98, 123),
        "coffee": _crop("coffee", 60, 200, 100, 140),
        "camera": _crop("camera", 100, 100, 90, 90),
        "chelsea16": chelsea16,
        "rocket_rgba": np.concatenate([rocket, alpha], axis=2),
    }


def _write_lmdb(path, images):
    writer = LmdbImageWriter(path)
    for key, img in images.items():
        rgb = read_image_array(img)
        writer.put(key, encode_image(rgb), rgb.shape)
    writer.close()


def read_image_array(img):
    """The RGB array read_image would return for img written as PNG."""
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    return img[:, :, :3]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    hr_images = _hr_images()
    lr_images = {key: _lr_of(img) for key, img in hr_images.items()}
    for key in hr_images:
        _write_png(str(root / "HR" / f"{key}.png"), hr_images[key])
        _write_png(str(root / "LR" / f"{key}.png"), lr_images[key])
    _write_lmdb(str(root / "HR.lmdb"), hr_images)
    _write_lmdb(str(root / "LR.lmdb"), lr_images)
    return root


def _opt(root, phase="train", **changes):
    dataset_opt = dict(name=phase, mode="LQGT", dataroot_GT=str(root / "HR"), dataroot_LQ=str(root / "LR"),
                       dataroot_LR=None, train_list=None, aug=None, noise_data=None, use_shuffle=True,
                       n_workers=0, batch_size=2, GT_size=64, use_flip=True, use_rot=True, color="RGB")
    dataset_opt.update(changes)
    opt = {"scale": SCALE, "datasets": {phase: dataset_opt}, "train": {"manual_seed": SEED}}
    return dataset_opt, opt


def _dataset(root, phase="train", **changes):
    dataset_opt, opt = _opt(root, phase, **changes)
    return build_dataset(dataset_opt, opt, phase)


def _modcropped_float(path):
    img = to_float32(read_image(path))
    return img[: img.shape[0] // SCALE * SCALE, : img.shape[1] // SCALE * SCALE]


def _hwc(tensor):
    return tensor.numpy().transpose(1, 2, 0)


def _undo_flips(img):
    """Every image that the official flip/rotate augmentation could have started from."""
    for transpose in (False, True):
        for vflip in (False, True):
            for hflip in (False, True):
                out = img.transpose(1, 0, 2) if transpose else img
                out = out[::-1] if vflip else out
                out = out[:, ::-1] if hflip else out
                yield out


def _locate(window, image):
    """(top, left) positions where window occurs exactly in image."""
    size_h, size_w = window.shape[:2]
    hits = []
    for top in range(image.shape[0] - size_h + 1):
        for left in range(image.shape[1] - size_w + 1):
            if np.array_equal(image[top:top + size_h, left:left + size_w], window):
                hits.append((top, left))
    return hits


# ---------------------------------------------------------------- samples


def _flips_of(sample):
    """Indices into _undo_flips of the flips that map the sample's crops back to aligned windows."""
    gt_full, lq_full = _modcropped_float(sample["GT_path"]), to_float32(read_image(sample["LQ_path"]))
    found = set()
    for number, (lq_orig, gt_orig) in enumerate(zip(_undo_flips(_hwc(sample["LQ"])), _undo_flips(_hwc(sample["GT"])))):
        for top, left in _locate(lq_orig, lq_full):
            if np.array_equal(gt_full[top * SCALE: top * SCALE + 64, left * SCALE: left * SCALE + 64], gt_orig):
                found.add(number)
    return found


def test_training_crops_are_aligned_and_flipped_together(data_root):
    dataset = _dataset(data_root)
    assert len(dataset) == 5
    flips_seen = set()
    for index in range(len(dataset)):
        sample = dataset[(index, 3)]
        assert sample["LQ"].shape == (3, 16, 16) and sample["GT"].shape == (3, 64, 64)
        assert sample["LQ"].dtype == torch.float32
        matches = _flips_of(sample)
        assert matches, f"GT crop of {sample['GT_path']} is not the HR window under its LR crop"
        flips_seen.add(min(matches))
    assert len(flips_seen) > 1  # augmentation happens


def test_use_flip_and_use_rot_switch_their_own_flips(data_root):
    plain = _dataset(data_root, use_flip=False, use_rot=False)
    assert all(0 in _flips_of(plain[(index, epoch)]) for index in range(5) for epoch in range(3))
    flip_only = [_flips_of(_dataset(data_root, use_rot=False)[(index, epoch)]) for index in range(5) for epoch in range(3)]
    assert all(found & {0, 1} for found in flip_only)  # hflip or nothing: never a rotation
    assert any(found == {1} for found in flip_only)
    rotating = [_flips_of(_dataset(data_root)[(index, epoch)]) for index in range(5) for epoch in range(3)]
    assert any(found and not found & {0, 1} for found in rotating)  # use_rot: some crops are rotated


def test_no_seed_means_seed_zero(data_root):
    unseeded, seeded = _dataset(data_root), _dataset(data_root)
    unseeded.set_seed(None)
    seeded.set_seed(0)
    assert torch.equal(unseeded[(2, 1)]["GT"], seeded[(2, 1)]["GT"])
    seeded.set_seed(1)
    assert not torch.equal(unseeded[(2, 1)]["GT"], seeded[(2, 1)]["GT"])
    dataset_opt, opt = _opt(data_root)
    opt["train"]["manual_seed"] = None
    built_unseeded = build_dataset(dataset_opt, opt, "train")
    assert torch.equal(built_unseeded[(2, 1)]["GT"], unseeded[(2, 1)]["GT"])
    assert not torch.equal(_dataset(data_root)[(2, 1)]["GT"], unseeded[(2, 1)]["GT"])  # manual_seed 7 is used


def test_validation_gives_whole_modcropped_images_and_file_pixels(data_root):
    dataset = _dataset(data_root, phase="val")
    for index in range(len(dataset)):
        sample = dataset[index]
        np.testing.assert_array_equal(_hwc(sample["GT"]), _modcropped_float(sample["GT_path"]))
        np.testing.assert_array_equal(_hwc(sample["LQ"]), to_float32(read_image(sample["LQ_path"])))
        assert sample["GT"].shape[1:] == (sample["LQ"].shape[1] * SCALE, sample["LQ"].shape[2] * SCALE)


def test_gray_rgba_and_16bit_become_rgb_float(data_root):
    samples = {os.path.basename(s["GT_path"]): s for s in (_dataset(data_root, "val")[i] for i in range(5))}
    camera = samples["camera.png"]["GT"]
    assert torch.equal(camera[0], camera[1]) and torch.equal(camera[1], camera[2])
    expected16 = _hr_images()["chelsea16"][:84, :100].astype(np.float32) / 65535.0
    np.testing.assert_allclose(_hwc(samples["chelsea16.png"]["GT"]), expected16, atol=1e-7)
    rocket = _hr_images()["rocket_rgba"][:92, :88, :3].astype(np.float32) / 255.0
    np.testing.assert_array_equal(_hwc(samples["rocket_rgba.png"]["GT"]), rocket)


def test_color_y_matches_bt601_luma(data_root):
    sample = _dataset(data_root, phase="val", color="Y")[0]
    assert sample["LQ"].shape[0] == 1 and sample["GT"].shape[0] == 1
    reference = skcolor.rgb2ycbcr(_modcropped_float(sample["GT_path"]))[:, :, 0] / 255.0
    np.testing.assert_allclose(sample["GT"][0].numpy(), reference, atol=2e-6)


def test_lr_on_the_fly_is_matlab_bicubic_of_the_whole_image(data_root):
    val = _dataset(data_root, phase="val", dataroot_LQ=None)[0]
    gt_full = _modcropped_float(val["GT_path"])
    lr_full = np.clip(imresize(gt_full, 1 / SCALE), 0, 1)
    np.testing.assert_allclose(_hwc(val["LQ"]), lr_full, atol=1e-6)
    train = _dataset(data_root, dataroot_LQ=None, use_flip=False, use_rot=False)
    for epoch in range(3):
        sample = train[(0, epoch)]
        (top, left), = [(t, l) for t, l in _locate(_hwc(sample["GT"]), gt_full) if t % 4 == 0 and l % 4 == 0]
        window = lr_full[top // SCALE: top // SCALE + 16, left // SCALE: left // SCALE + 16]
        np.testing.assert_allclose(_hwc(sample["LQ"]), window, atol=1e-5)


def test_lmdb_and_folder_give_identical_samples(data_root):
    folder = _dataset(data_root)
    lmdb = _dataset(data_root, dataroot_GT=str(data_root / "HR.lmdb"), dataroot_LQ=str(data_root / "LR.lmdb"))
    mixed_val = _dataset(data_root, phase="val", dataroot_LQ=str(data_root / "LR.lmdb"))
    folder_val = _dataset(data_root, phase="val")
    for index in range(len(folder)):
        a, b = folder[(index, 2)], lmdb[(index, 2)]
        assert torch.equal(a["GT"], b["GT"]) and torch.equal(a["LQ"], b["LQ"])
        assert os.path.basename(a["GT_path"]) == os.path.basename(b["GT_path"]) + ".png"
        assert torch.equal(mixed_val[index]["LQ"], folder_val[index]["LQ"])


def test_pairs_match_by_stem_and_div2k_suffix(tmp_path):
    hr_a, hr_b = _crop("coffee", 0, 0, 64, 64), _crop("astronaut", 0, 0, 64, 64)
    _write_png(str(tmp_path / "HR" / "b.png"), hr_b)
    _write_png(str(tmp_path / "HR" / "a.png"), hr_a)
    _write_png(str(tmp_path / "LR" / "ax4.png"), _lr_of(hr_a))  # DIV2K naming
    _write_png(str(tmp_path / "LR" / "b.jpg"), _lr_of(hr_b))
    dataset = _dataset(tmp_path, phase="val")
    for index in range(2):
        sample = dataset[index]
        expected = {"a.png": "ax4.png", "b.png": "b.jpg"}[os.path.basename(sample["GT_path"])]
        assert os.path.basename(sample["LQ_path"]) == expected


def test_lr_only_dataset(data_root):
    dataset_opt, opt = _opt(data_root, "test_1", mode="LR", dataroot_GT=None, dataroot_LQ=None,
                            dataroot_LR=str(data_root / "LR"))
    dataset = build_dataset(dataset_opt, opt, "test")
    assert len(dataset) == 5
    sample = dataset[1]
    assert set(sample) == {"LQ", "LQ_path"}
    np.testing.assert_array_equal(_hwc(sample["LQ"]), to_float32(read_image(sample["LQ_path"])))


def test_train_list_reads_relative_paths_comments_and_on_the_fly(data_root, tmp_path):
    list_path = tmp_path / "lists" / "train_list.txt"
    list_path.parent.mkdir()
    rel = os.path.relpath(data_root, list_path.parent)
    list_path.write_text("# NGDC list\n"
                         f"{rel}/HR/coffee.png\t{rel}/LR/coffee.png\n\n"
                         f"{data_root}/HR/astronaut.png\t-\n", encoding="utf-8")
    listed = _dataset(data_root, phase="val", dataroot_GT=None, dataroot_LQ=None, train_list=str(list_path))
    assert len(listed) == 2
    folder = {os.path.basename(s["GT_path"]): s for s in (_dataset(data_root, "val")[i] for i in range(5))}
    coffee, astronaut = listed[0], listed[1]
    assert torch.equal(coffee["LQ"], folder["coffee.png"]["LQ"])
    lr = np.clip(imresize(_modcropped_float(astronaut["GT_path"]), 1 / SCALE), 0, 1)
    np.testing.assert_allclose(_hwc(astronaut["LQ"]), lr, atol=1e-6)


# ---------------------------------------------------------------- errors


def _expect_error(fragments, build):
    with pytest.raises(RwsrError) as info:
        build()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_unmatched_stems_are_listed(data_root, tmp_path):
    for key in ("astronaut", "coffee", "extra"):
        src = data_root / "LR" / f"{'coffee' if key == 'extra' else key}.png"
        (tmp_path / "LR").mkdir(exist_ok=True)
        (tmp_path / "LR" / f"{key}.png").write_bytes(src.read_bytes())
    _expect_error(["3 HR image(s)", "camera", "chelsea16", "rocket_rgba", "1 LR image(s)", "extra"],
                  lambda: _dataset(data_root, dataroot_LQ=str(tmp_path / "LR")))


def test_wrong_lr_size_names_the_file(tmp_path):
    hr = _crop("coffee", 0, 0, 64, 80)
    _write_png(str(tmp_path / "HR" / "a.png"), hr)
    _write_png(str(tmp_path / "LR" / "a.png"), _lr_of(hr)[:, :-1])
    _expect_error([str(tmp_path / "LR" / "a.png"), "16x19", "64x80"], lambda: _dataset(tmp_path, phase="val"))


def test_an_lr_file_resized_after_the_dataset_was_built_is_named_when_read(tmp_path):
    hr = _crop("coffee", 0, 0, 64, 84)
    _write_png(str(tmp_path / "HR" / "a.png"), hr)
    _write_png(str(tmp_path / "LR" / "a.png"), _lr_of(hr))
    dataset = _dataset(tmp_path, phase="val")
    assert dataset[0]["LQ"].shape == (3, 16, 21)
    for lr in (_lr_of(hr)[:, :-1], _lr_of(hr)[:-1]):  # one column, then one row, short
        _write_png(str(tmp_path / "LR" / "a.png"), lr)
        _expect_error([str(tmp_path / "LR" / "a.png"), f"{lr.shape[0]}x{lr.shape[1]}", "64x84",
                       str(tmp_path / "HR" / "a.png")], lambda: dataset[0])


def test_gt_size_must_be_a_multiple_of_scale_for_training_only(data_root):
    _expect_error(["datasets.train.GT_size: 62 is not a multiple of scale 4"], lambda: _dataset(data_root, GT_size=62))
    assert len(_dataset(data_root, phase="val", GT_size=62)) == 5


def test_hr_smaller_than_gt_size_names_the_file(data_root):
    _expect_error([str(data_root / "HR" / "chelsea16.png"), "86x101", "GT_size 88", "datasets.train.GT_size"],
                  lambda: _dataset(data_root, GT_size=88))
    assert len(_dataset(data_root, phase="val", GT_size=88)) == 5  # whole images need no crop size


def test_duplicate_names_and_empty_folders(tmp_path, data_root):
    (tmp_path / "HR").mkdir()
    _expect_error([str(tmp_path / "HR"), "no images"], lambda: _dataset(tmp_path))
    _write_png(str(tmp_path / "HR" / "a.png"), _crop("coffee", 0, 0, 64, 64))
    _write_png(str(tmp_path / "HR" / "a.bmp"), _crop("coffee", 0, 0, 64, 64))
    _expect_error(["a.png", "a.bmp"], lambda: _dataset(tmp_path, dataroot_LQ=None))


def test_bad_train_list_lines_name_file_and_line(tmp_path, data_root):
    list_path = tmp_path / "list.txt"
    list_path.write_text(f"{data_root}/HR/coffee.png {data_root}/LR/coffee.png\n", encoding="utf-8")
    _expect_error([f"{list_path}:1", "GT_path<TAB>LQ_path"],
                  lambda: _dataset(data_root, train_list=str(list_path)))
    list_path.write_text(f"# ok\n{data_root}/HR/coffee.png\t{data_root}/LR/missing.png\n", encoding="utf-8")
    _expect_error([f"{list_path}:2", "missing.png", "does not exist"],
                  lambda: _dataset(data_root, train_list=str(list_path)))


def test_too_few_samples_for_the_batch(data_root):
    dataset_opt, opt = _opt(data_root, batch_size=8)
    dataset = build_dataset(dataset_opt, opt, "train")
    _expect_error(["datasets.train", "5 training samples", "batch of 8"],
                  lambda: build_dataloader(dataset, dataset_opt, "train", SEED))
    dataset_opt["batch_size"] = 3
    _expect_error(["datasets.train.batch_size", "multiple of the 2 processes"],
                  lambda: build_dataloader(dataset, dataset_opt, "train", SEED, rank=0, world_size=2))


def test_image_damaged_after_start_is_a_one_line_error_from_workers(data_root, tmp_path):
    hr = _crop("coffee", 0, 0, 64, 64)
    for key in ("a", "b"):
        _write_png(str(tmp_path / "HR" / f"{key}.png"), hr)
        _write_png(str(tmp_path / "LR" / f"{key}.png"), _lr_of(hr))
    dataset_opt, opt = _opt(tmp_path, n_workers=2, batch_size=1)
    dataset = build_dataset(dataset_opt, opt, "train")
    damaged = tmp_path / "LR" / "b.png"
    damaged.write_bytes(damaged.read_bytes()[:200])
    loader = build_dataloader(dataset, dataset_opt, "train", SEED)
    _expect_error([str(damaged), "truncated"], lambda: [batch for batch in loader])


# ---------------------------------------------------------------- order, determinism, resume


def _batches(loader, epoch):
    loader.sampler.set_epoch(epoch)
    return [(batch["LQ"].clone(), batch["GT"].clone(), list(batch["GT_path"])) for batch in loader]


def _same(batches_a, batches_b):
    return len(batches_a) == len(batches_b) and all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2] for a, b in zip(batches_a, batches_b))


def test_batches_are_a_function_of_seed_epoch_and_index(data_root):
    def loader(workers, seed=SEED):
        dataset_opt, opt = _opt(data_root, n_workers=workers, batch_size=2)
        return build_dataloader(build_dataset(dataset_opt, opt, "train"), dataset_opt, "train", seed)

    main, workers = loader(0), loader(2)
    assert len(main) == 2  # 5 samples, batch 2, drop_last
    epoch1 = _batches(main, 1)
    assert _same(epoch1, _batches(loader(0), 1))
    assert _same(epoch1, _batches(workers, 1))  # worker processes do not change anything
    assert not _same(epoch1, _batches(main, 2))
    assert not _same(epoch1, _batches(loader(0, seed=SEED + 1), 1))
    workers.sampler.set_epoch(1)
    workers.sampler.skip(2)  # resume after the first batch of epoch 1
    assert len(workers) == 1
    resumed = [(b["LQ"].clone(), b["GT"].clone(), list(b["GT_path"])) for b in workers]
    assert _same(resumed, epoch1[1:])
    assert _same(_batches(workers, 1), epoch1)  # the skip applied once


def test_sampler_shards_like_distributed_sampler():
    data = list(range(10))
    shares = [list(EpochSampler(data, seed=3, rank=r, world_size=4)) for r in range(4)]
    assert all(len(share) == 3 for share in shares)
    indices = [index for share in shares for index, epoch in share]
    assert set(indices) == set(data) and len(indices) == 12
    reference = torch.utils.data.DistributedSampler(data, num_replicas=4, rank=1, shuffle=False)
    assert [i for i, _ in EpochSampler(data, shuffle=False, rank=1, world_size=4)] == list(reference)
    disjoint = [[i for i, _ in EpochSampler(data, shuffle=False, rank=r, world_size=4, pad=False)] for r in range(4)]
    assert sorted(sum(disjoint, [])) == data
    sampler = EpochSampler(data, seed=3)
    sampler.set_epoch(5)
    assert all(epoch == 5 for _, epoch in sampler)


def test_validation_loader_has_no_noise_and_keeps_order(data_root):
    dataset_opt, opt = _opt(data_root, phase="val", aug="noise", noise_data=str(data_root / "HR"), n_workers=2)
    dataset = build_dataset(dataset_opt, opt, "val")
    loader = build_dataloader(dataset, dataset_opt, "val", SEED)
    assert build_noise_pool(dataset_opt, SCALE, "cpu", SEED, "val") is None
    for index, batch in enumerate(loader):
        assert batch["LQ"].shape[0] == 1
        assert torch.equal(batch["LQ"][0], dataset[index]["LQ"])
        np.testing.assert_array_equal(_hwc(batch["LQ"][0]), to_float32(read_image(batch["LQ_path"][0])))


def test_lmdb_loader_with_workers_after_reading_in_the_main_process(data_root):
    dataset_opt, opt = _opt(data_root, dataroot_GT=str(data_root / "HR.lmdb"),
                            dataroot_LQ=str(data_root / "LR.lmdb"), n_workers=2)
    dataset = build_dataset(dataset_opt, opt, "train")
    first = dataset[(0, 0)]  # the main process opens the LMDB before workers fork
    loader = build_dataloader(dataset, dataset_opt, "train", SEED)
    folder_opt, _ = _opt(data_root, n_workers=0)
    folder = build_dataloader(build_dataset(folder_opt, opt, "train"), folder_opt, "train", SEED)
    from_lmdb, from_folder = _batches(loader, 0), _batches(folder, 0)
    assert len(from_lmdb) == len(from_folder) == 2
    for (lq_a, gt_a, _), (lq_b, gt_b, _) in zip(from_lmdb, from_folder):
        assert torch.equal(lq_a, lq_b) and torch.equal(gt_a, gt_b)
    assert torch.equal(first["GT"], _dataset(data_root)[(0, 0)]["GT"])
