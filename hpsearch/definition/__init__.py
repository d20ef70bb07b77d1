"""The study definition: a study file's keys and types (`study_file`), and the file and the flags
made into one frozen `StudyConfig` (`config`)."""
