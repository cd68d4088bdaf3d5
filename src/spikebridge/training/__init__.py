"""training layer of spikebridge."""
