"""What can be searched and how it becomes torch: the optimizers' registry (`optimizers`, with
`param_groups` for what weight decay touches and `muon` for Muon's split), the schedules, the
conditional space (`conditional`: the optimizer first, then only its own hyperparameters, a
schedule and clipping), and the winner as code (`export`, `export_frameworks`)."""
