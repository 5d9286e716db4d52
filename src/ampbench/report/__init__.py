"""Reports built from score files only, so no number in a report exists without a run.

`tables.render_results` writes `results/README.md` and its plots; `compare.compare` puts two backends
side by side and `compare.transfer_matrix` shows what a policy keeps on another simulator;
`plots.plot_torque_profile` draws a collected clip's torques. `groups` gathers score files into runs of
one card on one backend and combines intervals over them.
"""
