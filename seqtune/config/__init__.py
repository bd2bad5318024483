"""The configuration layer: typed schemas registered in Hydra's ConfigStore and the rules that span fields."""
