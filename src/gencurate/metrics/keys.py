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
KEY_FD_INCEPTION = "fd_inception"              # classic FID: torch-fidelity's Inception on the images

KEY_N_SAMPLES = "n_samples"
KEY_N_REFERENCE = "n_reference"
KEY_N_TRAIN = "n_train"
KEY_ENCODER = "encoder"
KEY_ENCODER_INPUT_SIZE = "encoder_input_size"
KEY_TRAIN_STEPS = "steps"                      # train summary (paths.train_summary): optimizer steps the model trained

# The metrics compare summarises, and which way is better for each (density: ~1 when the samples
# follow the real density, > 1 when they crowd its dense regions, so neither).
LOWER_IS_BETTER = (KEY_FD, KEY_KID_MEAN, KEY_MEMORISATION, KEY_FD_INCEPTION)
HIGHER_IS_BETTER = (KEY_PRECISION, KEY_RECALL, KEY_COVERAGE)
SUMMARY_KEYS = (
    KEY_FD, KEY_KID_MEAN, KEY_PRECISION, KEY_RECALL, KEY_DENSITY, KEY_COVERAGE, KEY_MEMORISATION, KEY_FD_INCEPTION,
)
