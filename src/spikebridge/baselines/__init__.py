"""baselines layer of spikebridge."""
