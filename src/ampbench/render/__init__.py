"""Videos and filmstrips of a policy beside its clip, from recorded rollouts (`ampbench.render.video`)."""
