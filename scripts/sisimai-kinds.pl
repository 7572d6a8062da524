#!/usr/bin/perl
# Print Sisimai's verdict on each message file given: one line per
# recipient, "FILE<TAB>RECIPIENT<TAB>KIND<TAB>REASON", KIND mapped to
# Gazette's words (the differential test tests/it/bounces/sisimai.rs
# compares them): feedback -> complaint; vacation, delivered -> none;
# otherwise softbounce 0 -> hard, 1 -> soft, -1 -> none. A report that
# names no recipient gets Sisimai's placeholder address (an address in .invalid): it
# is left out, as Gazette leaves such a record without a recipient.
use strict;
use warnings;
use Sisimai;

for my $path (@ARGV) {
    my $found = Sisimai->make($path, delivered => 1, vacation => 1) || [];
    for my $e (@$found) {
        next if $e->recipient->address =~ /\.invalid$/;
        my $reason = $e->reason // '';
        my $kind = $reason eq 'feedback' ? 'complaint'
                 : ($reason eq 'vacation' || $reason eq 'delivered') ? 'none'
                 : $e->softbounce == 0 ? 'hard'
                 : $e->softbounce == 1 ? 'soft'
                 : 'none';
        printf "%s\t%s\t%s\t%s\n", $path, lc($e->recipient->address), $kind, $reason;
    }
}
