"""report layer of spikebridge."""
