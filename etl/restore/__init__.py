"""How each MOUS is restored: its restore kind (the view ``mous_restore``), the CASA it needs and which
of the site's installations runs it, and the files that let a person or a batch system run it.

Shared by the reports and the restore request writer (``ppr/``): it reads settings and plain values,
never the source, the loader or the derivation.
"""
