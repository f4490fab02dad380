"""What a checkpoint folder holds: the artefact file names (``names``), the records of its JSON files
(``schema``) and the writes that leave a whole file or none (``atomic``). Imports nothing else of vae_core."""
