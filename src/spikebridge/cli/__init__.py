"""cli layer of spikebridge."""
