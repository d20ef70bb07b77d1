"""Pure statistics: `basic` (intervals, bootstrap, best of k, profiles, learning-rate windows,
derived seeds), `verdicts` (over repeated studies: two-level bootstrap, P(A > B), time to target),
`transfer` (learning-rate transfer fits), `curves` (loss-curve speed-ups)."""
