"""What a reader is shown: `table` (typed cells, one row rendered as text, Markdown and HTML) with
`comparison_tables` and `study_tables` writing the rows; the page (`page`, `comparison_page`,
`lr_find_page`, `html`), the text (`text`, `comparison_text`, `cost_text`) and a notebook's cell
(`notebook`)."""
