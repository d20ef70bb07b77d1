"""Plotly figures from the summaries: `plotting` (colours, shared traces), `study`, `comparison`,
`repeated`, `cost`, `scale`."""
