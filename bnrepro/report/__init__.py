"""From runs on disk to what a reader sees: tables, claim verdicts, report, figures.

- summaries.py: every summary.json under the given paths as one table of runs;
- tables.py: `bnrepro table`: per-configuration means, provenance, written out;
- claims.py: a claim's verdict from the runs (outcomes, deaths, censoring, the words,
  Holm's correction per experiment); significance.py: the tests it uses;
- stated.py: the experiment file's claims now against those the runs recorded (post
  hoc), its length and seeds, reproduce.json;
- paper_table.py: the paper's Figure 3 format (steps to the baseline's best, speed-up,
  best accuracy, the paper's row beside), for experiments with report.paper_table;
- claims_report.py: `bnrepro report`: every experiment's claims in results/claims.md, and the
  index; budget.py: each experiment's wall time against the budget probe's prediction;
- outputs.py: where tables and figures go, and when results/ may be replaced;
- words.py: column headers in words and their footnotes;
- figures.py: `bnrepro figures`; santurkar_figures.py: the landscape, ICS and shift
  figures (figures.py imports it); plotting.py: what both share (styles, labels, the
  runs' scalars, saving); format.py: numbers and Markdown tables.

May import: config, run.files (reads what run/ wrote; never trains), launch.app's conf_dir
(stated.py composes an experiment file as `bnrepro train` would).
"""
