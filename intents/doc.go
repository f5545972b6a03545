// Package intents classifies short texts into intents: text in, ranked
// intents out. It is the leaf of dmdoctor's pipeline,
//
//	adapters → bot → flows → kb
//	                 intents (leaf: text → intent)
//
// and knows nothing of chat platforms or of any domain: it is trained on any
// labelled JSONL, one {"text": ..., "intent": ...} a line (see [ReadJSONL]).
//
// # Pipeline
//
// [Normalize] lower-cases the text, splits it into words, expands
// contractions and chat spellings, squeezes elongated words, maps digits to
// 0 and emoji to sentiment tokens. Each word is then stemmed with the
// Snowball English stemmer (stop-words kept). A text's features are its
// stems, its stem bigrams (with start and end markers), and the character
// 3- to 5-grams of its words between boundary markers, weighted by inverse
// document frequency; the word part and the character part are each scaled
// to unit length, and the whole vector too. Features are 64-bit hashes, kept
// when seen in training.
//
// The classifier is multinomial logistic regression trained by stochastic
// gradient descent, its weights averaged over snapshots taken after the
// first epoch; [Options.Ensemble] models trained on
// differently shuffled data (in parallel) are averaged. Training is
// deterministic. Weights below 0.01 are dropped after training, and the
// character part of every training word is precomputed, so [Model.Classify]
// costs a few microseconds and one allocation.
//
// With [Options.TypoMinLength], a word never seen in training that is one
// edit away from a training word ("mesages", "helpp") is read as that word:
// see typo.go.
//
// # Confidence and out-of-scope
//
// Probabilities are the softmax of the scores at a temperature T, each
// in-scope one multiplied by coverage^β: coverage is the share of the text's
// tokens whose stem the model saw in training (or read as a training word),
// smoothed by [Options.CoveragePrior] tokens, β is [Options.CoveragePower].
// The mass taken away goes to out-of-scope, as does the probability of an
// out_of_scope class when training data has one. [Calibrate] fits T on
// held-out data by maximum likelihood; [TuneThreshold] calibrates, then picks
// the rejection threshold that maximises F1 of out-of-scope on held-out data.
// A text is rejected (Result.OutOfScope) when no token of it was seen in
// training, when its confidence is below the threshold, or when out-of-scope
// is more probable than its best intent.
//
// On CLINC150 (train on train, tune on val, report on test) the defaults give
// in-scope accuracy 0.923 and out-of-scope recall 0.48: see TestCLINC150.
package intents
