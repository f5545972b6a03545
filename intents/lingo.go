package intents

// The tables of general English text normalisation used by [Normalize]. They
// hold language, not any domain's words: contractions, chat spellings and the
// sentiment of emoji.

// contractions are whole words with an apostrophe whose expansion the suffix
// rules in flush would get wrong.
var contractions = map[string]string{
	"can't":   "can not",
	"won't":   "will not",
	"shan't":  "shall not",
	"ain't":   "is not",
	"let's":   "let us",
	"y'all":   "you all",
	"ma'am":   "madam",
	"c'mon":   "come on",
	"o'clock": "oclock",
}

// isBases are the words whose "'s" is "is" rather than a possessive.
var isBases = map[string]bool{
	"it": true, "that": true, "what": true, "there": true, "here": true,
	"he": true, "she": true, "who": true, "where": true, "when": true,
	"how": true, "why": true, "this": true,
}

// lingo maps chat spellings and apostrophe-less contractions to words. Keys
// are lower-case words as typed (digits not yet mapped); values are one or
// more words separated by single spaces.
var lingo = map[string]string{
	// Contractions typed without the apostrophe. Ambiguous ones ("its",
	// "ill", "id", "were", "lets", "hell", "well", "shell") are left alone.
	"cant": "can not", "wont": "will not", "dont": "do not", "doesnt": "does not",
	"didnt": "did not", "isnt": "is not", "arent": "are not", "wasnt": "was not",
	"werent": "were not", "havent": "have not", "hasnt": "has not", "hadnt": "had not",
	"wouldnt": "would not", "shouldnt": "should not", "couldnt": "could not",
	"mustnt": "must not", "aint": "is not", "im": "i am", "ive": "i have",
	"youre": "you are", "youve": "you have", "youll": "you will", "youd": "you would",
	"theyre": "they are", "theyve": "they have", "theyll": "they will",
	"weve": "we have", "thats": "that is", "whats": "what is", "wheres": "where is",
	"whos": "who is", "hows": "how is", "theres": "there is", "heres": "here is",
	"itll": "it will", "shes": "she is", "whens": "when is",
	"wanna": "want to", "gonna": "going to", "gotta": "got to", "lemme": "let me",
	"gimme": "give me", "dunno": "do not know", "idk": "i do not know",

	// Chat spellings.
	"u": "you", "ya": "you", "yu": "you", "r": "are", "ur": "your", "urs": "yours",
	"n": "and", "pls": "please", "plz": "please", "plez": "please", "pleas": "please",
	"pleae": "please", "pleeze": "please", "plse": "please", "thx": "thanks",
	"thnx": "thanks", "thanx": "thanks", "tnx": "thanks", "thks": "thanks",
	"ty": "thanks", "tysm": "thanks so much", "thankyou": "thank you",
	"msg": "message", "msgs": "messages", "dms": "dm", "dmed": "dm", "dmd": "dm",
	"dming": "dm", "txt": "text", "pic": "picture", "pics": "pictures",
	"rn": "right now", "bc": "because", "bcuz": "because", "bcoz": "because",
	"bcos": "because", "becuz": "because", "cuz": "because", "coz": "because",
	"cos": "because", "b4": "before", "2day": "today", "2nite": "tonight",
	"tonite": "tonight", "2moro": "tomorrow", "2morrow": "tomorrow",
	"tmrw": "tomorrow", "tmr": "tomorrow", "tmw": "tomorrow", "gr8": "great",
	"l8r": "later", "ppl": "people", "abt": "about", "bday": "birthday",
	"wat": "what", "wut": "what", "wht": "what", "wen": "when", "tho": "though",
	"thru": "through", "nvm": "never mind", "btw": "by the way", "np": "no problem",
	"omg": "oh my god", "sth": "something", "smth": "something", "hv": "have",
	"cud": "could", "cld": "could", "wud": "would", "wld": "would", "shud": "should",
	"yep": "yes", "yup": "yes", "yeah": "yes", "yea": "yes", "ok": "ok", "okay": "ok",
	"okey": "ok", "k": "ok", "kk": "ok", "pwd": "password", "acct": "account",
	"asap": "as soon as possible", "rly": "really", "srsly": "seriously",
	"nd": "and",

	// Chat spellings of yes, no, thanks, greetings and common phrases.
	"ye": "yes", "yeh": "yes", "yah": "yes", "yas": "yes", "yass": "yes", "yeap": "yes",
	"yee": "yes", "yessir": "yes sir", "yesss": "yes", "yus": "yes", "ys": "yes",
	"nah": "no", "naw": "no", "nop": "nope", "nopes": "nope", "noo": "no",
	"alr": "alright", "aight": "alright", "ight": "alright", "allright": "alright",
	"deffo": "definitely", "defo": "definitely", "def": "definitely", "defs": "definitely",
	"definitly": "definitely", "definetly": "definitely", "prolly": "probably", "probs": "probably",
	"tyvm": "thank you very much", "tysvm": "thank you so very much", "thankies": "thanks",
	"thnks": "thanks", "tks": "thanks", "tq": "thank you", "thnk": "thank", "thanku": "thank you",
	"thankss": "thanks", "tanks": "thanks",
	"sup": "what is up", "wassup": "what is up", "wsp": "what is up", "whatsup": "what is up",
	"wazzup": "what is up", "wsup": "what is up", "hru": "how are you", "wyd": "what are you doing",
	"hbu": "how about you", "wbu": "what about you", "gm": "good morning", "gn": "good night",
	"hiya": "hi", "heya": "hey", "hai": "hi", "helo": "hello", "hallo": "hello", "hullo": "hello",
	"ngl": "not going to lie", "tbh": "to be honest", "fr": "for real", "istg": "i swear to god",
	"smh": "shaking my head", "imo": "in my opinion", "idc": "i do not care", "ik": "i know",
	"ikr": "i know right", "iirc": "if i remember correctly", "afaik": "as far as i know",
	"ofc": "of course", "obv": "obviously", "obvs": "obviously", "bcs": "because",
	"sry": "sorry", "srry": "sorry", "soz": "sorry", "pple": "people",
	"wdym": "what do you mean", "wym": "what do you mean", "hmu": "hit me up",
	"acc": "account", "accs": "accounts", "notif": "notification", "notifs": "notifications",
	"ppls": "people", "convo": "conversation", "convos": "conversations",
	"sumn": "something", "smthng": "something", "somethin": "something", "nothin": "nothing",
	"nuthin": "nothing", "jus": "just", "js": "just", "tryna": "trying to", "kinda": "kind of",
}

// emoticons are ASCII emoticons, longest first where one is a prefix of another.
var emoticons = []struct {
	text string
	kind int8
}{
	{":'(", lastEmojiNeg}, {">:(", lastEmojiNeg}, {":-(", lastEmojiNeg}, {":(", lastEmojiNeg},
	{"=(", lastEmojiNeg}, {":[", lastEmojiNeg}, {"</3", lastEmojiNeg},
	{":-)", lastEmojiPos}, {":)", lastEmojiPos}, {"=)", lastEmojiPos}, {":]", lastEmojiPos},
	{":-D", lastEmojiPos}, {":D", lastEmojiPos}, {";-)", lastEmojiPos}, {";)", lastEmojiPos},
	{"<3", lastEmojiPos},
}

// emojiSentiment names the emoji whose sentiment is clear; other emoji map to
// the neutral "emoji" token.
var emojiSentiment = map[rune]int8{
	// sad, angry, disappointed
	'😞': lastEmojiNeg, '😟': lastEmojiNeg, '😠': lastEmojiNeg, '😡': lastEmojiNeg,
	'😢': lastEmojiNeg, '😣': lastEmojiNeg, '😤': lastEmojiNeg, '😥': lastEmojiNeg,
	'😦': lastEmojiNeg, '😧': lastEmojiNeg, '😨': lastEmojiNeg, '😩': lastEmojiNeg,
	'😪': lastEmojiNeg, '😫': lastEmojiNeg, '😭': lastEmojiNeg, '😰': lastEmojiNeg,
	'😱': lastEmojiNeg, '😒': lastEmojiNeg, '😓': lastEmojiNeg, '😔': lastEmojiNeg,
	'😕': lastEmojiNeg, '😖': lastEmojiNeg, '🙁': lastEmojiNeg, '☹': lastEmojiNeg,
	'💔': lastEmojiNeg, '👎': lastEmojiNeg, '🤬': lastEmojiNeg, '🥺': lastEmojiNeg,
	'😿': lastEmojiNeg, '😾': lastEmojiNeg, '🙄': lastEmojiNeg, '🤦': lastEmojiNeg,
	'😑': lastEmojiNeg, '😐': lastEmojiNeg, '😬': lastEmojiNeg, '🥲': lastEmojiNeg,
	// happy, approving, thankful
	'😀': lastEmojiPos, '😁': lastEmojiPos, '😂': lastEmojiPos, '😃': lastEmojiPos,
	'😄': lastEmojiPos, '😅': lastEmojiPos, '😆': lastEmojiPos, '😇': lastEmojiPos,
	'😉': lastEmojiPos, '😊': lastEmojiPos, '😋': lastEmojiPos, '😌': lastEmojiPos,
	'😍': lastEmojiPos, '😎': lastEmojiPos, '😘': lastEmojiPos, '🙂': lastEmojiPos,
	'🤗': lastEmojiPos, '🥰': lastEmojiPos, '🤩': lastEmojiPos, '🤣': lastEmojiPos,
	'👍': lastEmojiPos, '👌': lastEmojiPos, '👏': lastEmojiPos, '🙏': lastEmojiPos,
	'❤': lastEmojiPos, '💕': lastEmojiPos, '💖': lastEmojiPos, '💗': lastEmojiPos,
	'💘': lastEmojiPos, '💙': lastEmojiPos, '💚': lastEmojiPos, '💛': lastEmojiPos,
	'💜': lastEmojiPos, '🎉': lastEmojiPos, '🥳': lastEmojiPos, '☺': lastEmojiPos,
	'✅': lastEmojiPos, '💯': lastEmojiPos, '🙌': lastEmojiPos, '😻': lastEmojiPos,
}
