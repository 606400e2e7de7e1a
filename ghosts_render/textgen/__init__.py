"""Pure building blocks of the text stage: parsing model output, planning runs, the resume state."""
