"""Live sources: capture threads, the feature ring, the loop for one source and for several batched, events, the overlay and window."""
