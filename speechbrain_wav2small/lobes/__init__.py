"""Pure ``nn.Module`` building blocks: the log-mel front end, the students
(Wav2Small, its fast inference form, the MobileNets) and the teachers.

Nothing here reads or writes files; loading and saving live in the layers
above (:mod:`speechbrain_wav2small.teachers`,
:mod:`speechbrain_wav2small.packaging`).
"""
