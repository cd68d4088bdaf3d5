"""analysis layer of spikebridge."""
