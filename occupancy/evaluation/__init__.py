"""Accuracy against ground truth, composed test scenes with exact truth, simulated sessions."""
