"""The blog's published facts, in one place (``BLOG_FACTS.md`` of the series, part 2).

Everything the package compares against the blog's single seed lives here: its seed-37 final
weights, the walkthrough sequence, the published gate ranges and single-element answers, the
epochs its figures show, and the predict-the-mean baseline that an untrained net sits on.
Nothing here is computed; every value is quoted (or, for the baseline, derived in one line).
"""
from __future__ import annotations

#: The blog's seed-37 final weights (the CPU run of its protocol, agreeing with every published
#: digit), as a state dict of nested lists (torch names; hidden size 1).
SEED37_STATE_DICT = {
    "gru.weight_ih_l0": [[0.2308698, 0.6330313], [-0.4197582, -3.0248599],
                         [-0.2839302, -0.8133938]],
    "gru.weight_hh_l0": [[-0.1414806], [-0.8965575], [1.1289151]],
    "gru.bias_ih_l0": [0.7426546, 0.8092875, 0.6560431],
    "gru.bias_hh_l0": [0.7426547, 0.8092874, 0.1652635],
    "linear.weight": [[-4.1571345]], "linear.bias": [0.8693163],
}

#: The worked example of parts 1 and 2, (value, flag) in original units: flags on 37 and 21,
#: target 58, published output 57.81.
SEQUENCE = ((12, 0), (37, 1), (12, 0), (21, 1))

#: The epochs at which part 3 shows the walkthrough.
EPOCHS = (0, 735, 1519, 2989)

#: The update gate at the first step over values 0..99 (Figure 1), quoted to two decimals:
#: flag 0 in [0.77, 0.83], flag 1 in [0.14, 0.20].
Z_FLAG0 = (0.77, 0.83)
Z_FLAG1 = (0.14, 0.20)

#: The net's answers to single-element inputs (original units; targets 0 and 12).
SINGLE_ELEMENT = {"[12,0]": 41.08, "[12,1]": 101.58}

#: The published final training loss of seed 37 (scaled units).
FINAL_TRAIN_LOSS = 1.0e-4

#: MSE of always predicting the mean target, scaled units: two flagged values uniform on
#: {0, ..., 99} / 100 have a sum of variance 2 x (100^2 - 1) / 12 / 100^2 ~ 1/6.
MEAN_BASELINE = 1.0 / 6.0
