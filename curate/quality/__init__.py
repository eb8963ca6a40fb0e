"""What a pair is worth: scores by a judge or by the base model (`scores`, `ifd`), selection by
score kept diverse (`select`), and the diversity of the whole set (`diversity`)."""
