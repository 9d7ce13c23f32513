"""What is sent: the curated tool sets and their cases, the bad requests, the Hypothesis strategies."""
