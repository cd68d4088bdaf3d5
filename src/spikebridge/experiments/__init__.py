"""experiments layer of spikebridge."""
