"""What a run leaves: results.json, reproducers, report.html, summary.md, baselines and their diff."""
