"""Result keys of the metrics library: the names written to `reports/metrics/<method>/seed<s>.json`.

One constant per key (torch-fidelity style) so the evaluate stage, the compare stage, tests and
users spell every key the same way.
"""

from __future__ import annotations

KEY_FD = "fd"                                  # Frechet distance in the evaluation encoder's feature space
KEY_KID_MEAN = "kid_mean"                      # kernel inception distance (unbiased MMD^2), mean over subsets
KEY_KID_STD = "kid_std"                        # ... and its std over subsets
KEY_PRECISION = "precision"                    # Kynkaanniemi et al. 2019
KEY_RECALL = "recall"
KEY_DENSITY = "density"                        # Naeem et al. 2020
KEY_COVERAGE = "coverage"
KEY_MEMORISATION = "memorisation"              # share of samples that copy a training image (see memorisation.py)
KEY_MEMORISATION_THRESHOLD = "memorisation_threshold"
KEY_MEMORISATION_CONTROL = "memorisation_control"  # the same share for held-out reference images (no copies)
KEY_MEMORISATION_EXCESS = "memorisation_excess"    # memorisation - control
KEY_COPY_SSIM = "copy_ssim"                    # mean SSIM of the closest sample/training pairs (pixels, in [-1, 1])
KEY_COPY_PSNR = "copy_psnr"                    # mean PSNR (dB) of the same pairs
KEY_FD_INCEPTION = "fd_inception"              # classic FID: torch-fidelity's Inception on the images
KEY_FD_INFINITY = "fd_infinity"                # FD extrapolated to infinitely many samples (Chong & Forsyth 2020)
KEY_KID_X1E3 = "kid_x1e3"                      # KID x 10^3 (readable at dvc metrics diff's precision), mean over subsets
KEY_KID_X1E3_STD = "kid_x1e3_std"              # ... and its std over subsets, same unit
KEY_INCEPTION_SCORE = "inception_score"        # torch-fidelity's Inception Score of the samples, mean over splits
KEY_INCEPTION_SCORE_STD = "inception_score_std"
PIXEL_PREFIX = "pixel_"                        # the same metrics in the encoder-free pixel space (pixels.py)
KID_SCALE = 1e3                                # kid_x1e3 = KID * KID_SCALE

KEY_N_SAMPLES = "n_samples"
KEY_N_REFERENCE = "n_reference"
KEY_N_TRAIN = "n_train"
KEY_ENCODER = "encoder"
KEY_ENCODER_INPUT_SIZE = "encoder_input_size"
KEY_TRAIN_STEPS = "steps"                      # train summary (paths.train_summary): optimizer steps the model trained

# The metrics compare summarises, and which way is better for each (density: ~1 when the samples
# follow the real density, > 1 when they crowd its dense regions, so neither).
LOWER_IS_BETTER = (KEY_FD, KEY_KID_MEAN, KEY_MEMORISATION, KEY_FD_INCEPTION, KEY_FD_INFINITY, KEY_KID_X1E3)
LOWER_IS_BETTER += (KEY_MEMORISATION_EXCESS, KEY_COPY_SSIM, KEY_COPY_PSNR)
HIGHER_IS_BETTER = (KEY_PRECISION, KEY_RECALL, KEY_COVERAGE, KEY_INCEPTION_SCORE)
SUMMARY_KEYS = (
    KEY_FD, KEY_FD_INFINITY, KEY_KID_X1E3, KEY_PRECISION, KEY_RECALL, KEY_DENSITY, KEY_COVERAGE, KEY_MEMORISATION,
    KEY_FD_INCEPTION, KEY_INCEPTION_SCORE,
)
SUMMARY_KEYS += (KEY_MEMORISATION_CONTROL, KEY_MEMORISATION_EXCESS, KEY_COPY_SSIM, KEY_COPY_PSNR)
# The pixel-space control's keys (pixel_fd, ...): summarised beside, not inside, the ranking table.
PIXEL_METRICS = (KEY_FD, KEY_FD_INFINITY, KEY_KID_X1E3, KEY_PRECISION, KEY_RECALL, KEY_DENSITY, KEY_COVERAGE)
PIXEL_SUMMARY_KEYS = tuple(PIXEL_PREFIX + k for k in PIXEL_METRICS)
LOWER_IS_BETTER += tuple(PIXEL_PREFIX + k for k in LOWER_IS_BETTER if k in PIXEL_METRICS)
HIGHER_IS_BETTER += tuple(PIXEL_PREFIX + k for k in HIGHER_IS_BETTER if k in PIXEL_METRICS)
