"""Training models: `sr` (pixel-loss pre-training) and `srgan`/`edl` (the EDL GAN)."""


def build_model(opt, runtime, logger):
    if opt["model"] == "sr":
        from .sr_model import SRModel
        return SRModel(opt, runtime, logger)
    from .edl_model import EDLModel
    return EDLModel(opt, runtime, logger)
