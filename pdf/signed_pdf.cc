// not written yet (issue 11, in progress)
