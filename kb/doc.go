// Package kb is dmdoctor's knowledge base: the data the assistant knows,
// and its loader. The files live under kb/data/ (embedded in the binary;
// Load takes any fs.FS, so a community can point --kb at its own copy):
// the eight causes with their explanations, symptoms, confirming questions
// and fix steps; the triage questions; the FAQ; the general checklist; the
// assistant's own phrases; and the labelled examples the intent classifier
// trains on (training.jsonl), tunes on (dev.jsonl) and is measured on
// (eval.jsonl).
//
// Load validates everything and reports every problem with the file, the
// line and the field. kb sits at the bottom of the pipeline: flows reads
// it, the engine (package bot) carries it, and nothing in it imports the
// rest of dmdoctor.
package kb
