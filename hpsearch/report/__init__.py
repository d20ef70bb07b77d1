"""The readers: reports built from stored studies, in three stages, each a folder: `summaries/`
(stored trials -> plain data: per study, per comparison and over its studies, across tasks, a
scale sweep), `figures/` (plotly figures from the summaries), `documents/` (tables written once
and rendered as text, Markdown and HTML; the page, the terminal and Markdown text, a notebook's
cell). `listings` and `trials_table` are what programs read (`hpsearch studies`, `hpsearch trials`,
a DataFrame). Nothing here runs a trial or opens a storage: the caller hands in the loaded
studies."""
