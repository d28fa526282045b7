"""The watch service: the inbox, observing, stability, processing, disposal and waking on stop."""
