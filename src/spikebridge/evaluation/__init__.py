"""evaluation layer of spikebridge."""
