"""
Dialog scripts, written exactly as for alice_scripts; each module has a ``skill``.

Mount one with a line in alice/urls.py, talk to one with ``manage.py alice_chat <name>``.
"""
