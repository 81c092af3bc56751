"""Pictures: curves of a run, detections and relation weights drawn on images."""
