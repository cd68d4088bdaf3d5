"""viz layer of spikebridge."""
