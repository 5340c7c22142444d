package archive

// maxPath bounds a path given to the API and a tar entry's name or link
// target, in bytes (PATH_MAX).
const maxPath = 4096
