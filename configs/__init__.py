"""Config files (launch/*.py --config=configs/NAME.py) and their presets."""
