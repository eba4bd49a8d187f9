"""Training building blocks: the teacher and distillation ``Brain`` classes,
mixup, and the test reports of the recipes."""
