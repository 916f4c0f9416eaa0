"""PIPL data-subject rights (个人信息主体权利): access and copy (Art. 44–45), erasure (Art. 47),
consent honoured by exports and model training, and retention limited to what is necessary (Art. 19).

- :mod:`.subject` finds everything that identifies one person (user ids, anonymous ids, phone/email);
- :mod:`.export` gathers everything held about them as JSON;
- :mod:`.erase` removes or irreversibly pseudonymises them everywhere, and leaves tombstones;
- :mod:`.tombstones` keyed digests that make ingestion drop a replay of the person's old rows;
- :mod:`.consent_gate` who may enter an export or a training set, from ``jingyun.messaging.consent``;
- :mod:`.retention` per-table retention policies, run on the scheduler.
"""
