"""The ground floor: the datasets and their pixel forms (``data``), devices (``devices``) and the bounds every
setting is checked against (``limits``). Imports nothing else of vae_core."""
