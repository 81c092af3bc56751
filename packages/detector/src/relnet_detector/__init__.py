"""Faster R-CNN with relation heads and learned duplicate removal (Relation Networks, §4)."""
