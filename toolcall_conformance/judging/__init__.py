"""From exchanges to verdicts: the vocabulary of verdicts, the named checks and what they judge."""
