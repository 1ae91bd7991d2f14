"""Archive: each response as a package for the agency's Noark 5 archive (eFormidling's arkivmelding).

``facts`` reads what a package is made of and fingerprints it; ``documents``
decides the main document and the attachments; ``renditions`` adds an
archive-format (PDF/A) variant of each, made in the extraction workers by
``render`` (the mail text, with WeasyPrint) and ``convert`` (office files, with
LibreOffice); ``arkivmelding`` writes the XML (``metadata`` intake's own part of
it); ``package`` puts the folder in place; ``records`` keeps the export rows;
``export`` runs it for a list of submissions; ``job`` is the daemon's drop
folder; ``status`` and ``views`` are what the JSON and the staff pages show.

This module imports nothing, because extraction workers import the task modules.
"""
