"""Building blocks of the recipes' training: the teacher to fine-tune and
its export, batch augmentation with mixup, the students' zero head for the
CCC loss, and the reports of a run. The recipes' ``Brain`` classes live in
each recipe's ``train.py``."""
