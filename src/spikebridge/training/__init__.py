"""training layer of spikebridge."""

import warnings

# Lightning builds torch pytree ``LeafSpec`` objects, which torch deprecates with a FutureWarning on
# every fit; it concerns Lightning's internals, not the user's code, so it is not shown.
warnings.filterwarnings(
    "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
)
