"""Offline data preparation: the work behind preprocess/*.py and the rwsr-* preparation commands.

HR/LR pairs (bicubic_pairs, bicubic_dataset), noise patches (noise_patches,
noise_collection), LMDB packing (lmdb_writer, lmdb_packing), noise
estimation and NGDC (noise_estimation, ngdc, ngdc_list), with the shared
presets, folder checks and the batch runner. Training never imports it.
"""
