// placeholder: being written (issue 13)
